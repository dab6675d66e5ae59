"""A real SMTP server on loopback for the email notification tests (aiosmtpd).

It offers STARTTLS with the given certificate and requires it before anything else, takes a
login of `slipway` with the password given, and appends each message it accepts to a JSON-lines
file: envelope, whether the session was encrypted and logged in, and the message itself.

    server.py PORT CERT KEY PASSWORD OUT READY_FILE
"""

import json
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, password, out, ready = sys.argv[1:7]


class Recorder:
    async def handle_DATA(self, server, session, envelope):
        with open(out, "a", encoding="utf-8") as f:
            f.write(
                json.dumps(
                    {
                        "from": envelope.mail_from,
                        "to": envelope.rcpt_tos,
                        "tls": session.ssl is not None,
                        "login": session.authenticated,
                        "message": envelope.content.decode("utf-8", "replace"),
                    }
                )
                + "\n"
            )
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"slipway"
        and auth_data.password == password.encode()
    )
    # handled=False: the server answers 535 itself (the default leaves the client waiting).
    return AuthResult(success=ok, handled=False)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(
    Recorder(),
    hostname="127.0.0.1",
    port=int(port),
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_require_tls=True,
)
controller.start()
with open(ready, "w", encoding="utf-8") as f:
    f.write("ready\n")
while True:
    time.sleep(3600)
