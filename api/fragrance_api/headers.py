"""The HTTP headers the serving answers with and the traffic split routes on."""

from __future__ import annotations

#: The version of the release that answered, on every /v1/brief response: a client behind a
#: traffic split can tell which side served it.
VERSION_HEADER = "X-Fragrance-Version"
#: And the track (stable or canary): a canary of the TuningPolicy's settings runs the same
#: version as stable. Sent back on a request (a rating of that brief), it pins the request
#: to that track while the canary takes traffic.
TRACK_HEADER = "X-Fragrance-Track"
