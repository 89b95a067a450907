"""The HTTP layer: every exchange with a registry, as small seams that each do one job.

::

    Transport.request(method, registry, path)          transport.py: composes the seams, records the trace
      ├── scheme.Schemes     https or http? (probe once; http only for loopback/insecure=)
      ├── auth.AuthFlow      401 -> challenge -> token/basic -> retry    (Docker token spec, RFC 7235)
      │     └── gate.Gate    may this secret go to this URL?            (the credential rules, one table)
      ├── redirects.follow   Location hops: same-host rule, SSRF guard, no https->http
      ├── retry              backoff and Retry-After for idempotent requests
      ├── wire.Wire          the one place that talks to `requests`; returns our Response
      └── errors.raise_for   status -> NotFound/Unauthorized/Denied/RegistryError, capped error bodies
    values.py                checked parsers for every value a server controls (numbers, URLs, ranges)
    response.py              Response: status, headers, url, a raw body with a byte cap and a deadline

Nothing above the HTTP layer imports `requests` or `urllib3`; they see `Response` only. This
file imports nothing, so `http.values` (pure parsing) can be used without loading requests.
"""
