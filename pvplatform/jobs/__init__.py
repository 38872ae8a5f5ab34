"""Work no request waits for: a change marks its process as needing a refresh (a cheap row in
the change's own transaction) and a background worker recomputes, many changes at once."""
