"""Notifications: email and signed webhooks when a job ends, read from the jobs' event log.

The app sits above accounts, profiles and jobs (``.importlinter``): it reads ``JobEvent`` rows,
and the jobs app never imports it.  The worker starts its delivery loop through the
``WORKER_LOOPS`` setting (dotted paths), so the layers stay one-way.
"""
