"""WhiteNoise for every handler: its middleware is sync-only, and one sync-only middleware turns
the rest of Django's async chain sync, which would make a long-poll (qportal.handler.FinishedLater)
wait on a loop of its own that no event wakes. This wrapper keeps both modes."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware


@sync_and_async_middleware
def static_files_middleware(get_response):
    whitenoise = WhiteNoiseMiddleware(get_response)
    if not iscoroutinefunction(get_response):
        return whitenoise

    async def serve_or_pass(request):
        found = (
            whitenoise.find_file(request.path_info)
            if whitenoise.autorefresh
            else whitenoise.files.get(request.path_info)
        )
        if found is not None:
            return await sync_to_async(whitenoise.serve, thread_sensitive=False)(found, request)
        return await get_response(request)

    return serve_or_pass
