"""ASGI entry point: HTTP through Django, websockets through Channels, embedded worker when configured."""

import os

import django

from qportal.serving import exit_with_master

exit_with_master()  # first: a uvicorn worker whose master was killed while it started ends too
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qportal.settings")
django.setup(set_prefix=False)

from qportal.handler import OneHopASGIHandler  # noqa: E402

django_asgi_app = OneHopASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from qportal.embedded import EmbeddedWorkerApp  # noqa: E402
from qportal.origin import SameOriginValidator  # noqa: E402
from qportal.routing import websocket_urlpatterns  # noqa: E402

application = EmbeddedWorkerApp(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)

from qportal.startup import freeze_loaded_objects  # noqa: E402

freeze_loaded_objects()  # last: everything imported above lives as long as the process
