"""Serve counter.py in debug mode: edits to counter.py apply from the next request."""
import web

# On by default under the built-in server; said here, before counter.py creates
# its application, which reads it.
web.config.debug = True

import counter  # imported, not run as the main script, so that web.py can reload it

if __name__ == "__main__":
    counter.app.run()
