"""A shopping cart in the session: a dict of item -> quantity."""
import web

from cache_control import keep_sessions_out_of_caches

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)

urls = (
    "/cart", "cart",
    "/cart/add", "add",
    "/cart/remove", "remove",
    "/cart/empty", "empty",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
session = web.session.Session(app, web.session.DiskStore("sessions"))
PLAIN_TEXT = "text/plain; charset=utf-8"


# --8<-- [start:the_cart]
def the_cart():
    # setdefault, not get: changes made in place are saved only if the dict is
    # *in* the session. Unlike an initializer, it also serves older sessions.
    return session.setdefault("cart", {})
# --8<-- [end:the_cart]


def refuse(status, message):
    """A plain-text error: web.py's own are HTML, and this message may hold the item."""
    return web.HTTPError(status, {"Content-Type": PLAIN_TEXT}, message + "\n")


def posted_item():
    """The form's `item` field: one line of printable text in UTF-8, or a 400."""
    try:
        item = web.input(item="").item
    except UnicodeDecodeError:  # a raw byte that is not UTF-8: web.py 0.76 would answer 500
        item = ""
    # A field sent as a file comes as bytes; web.py turns a percent-encoded byte
    # that is not UTF-8 (%FF) into U+FFFD; a line break would forge a line.
    if not isinstance(item, str) or not item or "\ufffd" in item or not item.isprintable():
        raise refuse("400 Bad Request", "The form needs an item: printable text, in UTF-8.")
    return item


class cart:
    def GET(self):
        web.header("Content-Type", PLAIN_TEXT)
        return "".join(f"{quantity} {item}\n" for item, quantity in the_cart().items())


# --8<-- [start:forms]
class add:
    def POST(self):
        item, cart = posted_item(), the_cart()
        cart[item] = cart.get(item, 0) + 1
        raise web.seeother("/cart")


class remove:
    def POST(self):
        item, cart = posted_item(), the_cart()
        if item not in cart:
            raise refuse("409 Conflict", f"Not in the cart: {item}")
        cart[item] -= 1
        if cart[item] == 0:
            del cart[item]
        raise web.seeother("/cart")


class empty:
    def POST(self):
        session.cart = {}  # assigned rather than changed in place: saved all the same
        raise web.seeother("/cart")
# --8<-- [end:forms]


if __name__ == "__main__":
    app.run()
