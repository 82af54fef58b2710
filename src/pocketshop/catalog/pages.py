from pocketshop.web.routing import page_router

router = page_router()
