"""The embedded broker of `make run`: kombu's filesystem transport, with atomic writes.

kombu's filesystem transport writes a message into the queue folder in place, so a worker that
lists the folder at that moment can take the file while it is still empty and die on a
JSONDecodeError (seen under `make run`: beat published while the worker polled). Here a message is
written under a name the reader skips, then renamed into the queue: a rename is atomic.

Development only — production and CI use Redis. Selected with CELERY_BROKER_URL=embedded://.
"""

import os
import uuid
from time import monotonic

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The reader only takes names whose text after the first dot is exactly "<queue>.msg".
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        staging = final + ".part"
        try:
            with open(staging, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(staging, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add {name!r} to the queue folder") from exc


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault("embedded", "payme.broker:Transport")
