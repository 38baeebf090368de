"""A team's usage as a CSV download, one row per job (``usage.csv_rows``), streamed."""

from __future__ import annotations

import csv

from django.http import StreamingHttpResponse

from qportal.jobs import usage


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(team_id: int, start, end) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in usage.csv_rows(team_id, start, end)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="usage-team{team_id}.csv"'
    return response
