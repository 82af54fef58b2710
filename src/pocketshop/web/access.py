"""Who may call each route: one table, every route of the app in it.

tests/web/test_access.py walks the app against this table (a route missing here, or a line
here naming no route, fails) and calls each route as someone it must refuse: without a
login, as a buyer on a merchant's route, as another shop or another buyer on a resource
that is not theirs, as an unsigned provider notice. A new route starts with a line here.

Operators work through the CLI (`pocketshop payments …`, `pocketshop payouts …`) and decide
after-sales disputes on `/admin/disputes` (users made operators with `pocketshop operators`).
"""

from enum import StrEnum


class Access(StrEnum):
    # Anyone, logged in or not: the storefront, shared links, logging in, the docs.
    public = "public"
    # A logged-in user, on what is their own (orders, addresses, cart, their onboarding).
    # A merchant is a buyer too.
    buyer = "buyer"
    # A user with a shop, on their own shop's things; others get 403 (pages: onboarding).
    merchant = "merchant"
    # A payment provider's notification: trusted for its signature, not for who sends it.
    provider = "provider"
    # A platform operator (`pocketshop operators add`); anyone else gets 403.
    operator = "operator"


# (method, path) -> who may call it. HEAD goes with GET.
ROUTES: dict[tuple[str, str], Access] = {
    # --- the app's own ------------------------------------------------------------------------
    ("GET", "/openapi.json"): Access.public,
    ("GET", "/docs"): Access.public,
    ("GET", "/docs/oauth2-redirect"): Access.public,
    ("GET", "/redoc"): Access.public,
    ("GET", "/docs-assets"): Access.public,  # Swagger UI's and ReDoc's files
    ("GET", "/static"): Access.public,
    ("GET", "/media"): Access.public,  # shop logos and product photos
    ("GET", "/"): Access.public,
    ("GET", "/healthz"): Access.public,
    ("GET", "/favicon.ico"): Access.public,
    # --- payments: provider callbacks ---------------------------------------------------------
    ("POST", "/api/v1/payments/{provider_name}/notify"): Access.provider,
    # --- accounts -----------------------------------------------------------------------------
    ("POST", "/api/v1/auth/sms-codes"): Access.public,
    ("POST", "/api/v1/auth/tokens"): Access.public,
    ("DELETE", "/api/v1/auth/tokens/current"): Access.buyer,
    ("GET", "/api/v1/me"): Access.buyer,
    ("GET", "/login"): Access.public,
    ("POST", "/login/code"): Access.public,
    ("POST", "/login"): Access.public,
    ("POST", "/logout"): Access.public,
    ("POST", "/language"): Access.public,
    ("GET", "/dev/sms"): Access.public,  # the demo's SMS inbox; 404 anywhere else
    # --- shops: onboarding (any logged-in user may open a shop) and the shop ----------------
    ("GET", "/api/v1/banks"): Access.public,
    ("GET", "/api/v1/onboarding"): Access.buyer,
    ("POST", "/api/v1/onboarding/identity"): Access.buyer,
    ("POST", "/api/v1/onboarding/bank-card"): Access.buyer,
    ("POST", "/api/v1/onboarding/shop"): Access.buyer,
    ("GET", "/api/v1/me/shop"): Access.merchant,
    ("GET", "/api/v1/shops/{slug}"): Access.public,
    ("GET", "/onboarding"): Access.public,  # the first step is logging in
    ("GET", "/onboarding/identity"): Access.public,  # each sends to /onboarding
    ("GET", "/onboarding/bank-card"): Access.public,
    ("GET", "/onboarding/shop"): Access.public,
    ("POST", "/onboarding/identity"): Access.buyer,
    ("POST", "/onboarding/bank-card"): Access.buyer,
    ("POST", "/onboarding/shop"): Access.buyer,
    ("GET", "/console"): Access.merchant,
    ("GET", "/console/settings"): Access.merchant,
    ("POST", "/console/settings"): Access.merchant,
    ("PUT", "/api/v1/me/shop"): Access.merchant,
    ("POST", "/api/v1/me/shop/logo"): Access.merchant,
    ("GET", "/s/{slug}/qr.{kind}"): Access.public,
    # --- attribution: stores, staff, campaign links, and where their links land --------------
    ("GET", "/s/{slug}/go/{token}"): Access.public,
    ("GET", "/api/v1/me/shop/stores"): Access.merchant,
    ("POST", "/api/v1/me/shop/stores"): Access.merchant,
    ("PATCH", "/api/v1/me/shop/stores/{store_id}"): Access.merchant,
    ("GET", "/api/v1/me/shop/stores/{store_id}/staff"): Access.merchant,
    ("POST", "/api/v1/me/shop/stores/{store_id}/staff"): Access.merchant,
    ("PATCH", "/api/v1/me/shop/staff/{staff_id}"): Access.merchant,
    ("GET", "/api/v1/me/shop/campaigns"): Access.merchant,
    ("POST", "/api/v1/me/shop/campaigns"): Access.merchant,
    ("PATCH", "/api/v1/me/shop/campaigns/{campaign_id}"): Access.merchant,
    ("GET", "/console/promote"): Access.merchant,
    ("POST", "/console/stores"): Access.merchant,
    ("GET", "/console/stores/{store_id}"): Access.merchant,
    ("POST", "/console/stores/{store_id}/staff"): Access.merchant,
    ("POST", "/console/stores/{store_id}/{action}"): Access.merchant,
    ("POST", "/console/staff/{staff_id}/{action}"): Access.merchant,
    ("POST", "/console/campaigns"): Access.merchant,
    ("POST", "/console/campaigns/{campaign_id}/{action}"): Access.merchant,
    ("GET", "/s/{slug}/poster.png"): Access.public,
    ("GET", "/s/{slug}/p/{product_id}/poster.png"): Access.public,
    # --- catalog ------------------------------------------------------------------------------
    ("GET", "/api/v1/categories"): Access.public,
    ("GET", "/api/v1/shops/{slug}/products"): Access.public,
    ("GET", "/api/v1/shops/{slug}/products/{product_id}"): Access.public,
    ("GET", "/api/v1/me/shop/products"): Access.merchant,
    ("POST", "/api/v1/me/shop/products"): Access.merchant,
    ("GET", "/api/v1/me/shop/products/{product_id}"): Access.merchant,
    ("PUT", "/api/v1/me/shop/products/{product_id}"): Access.merchant,
    ("PUT", "/api/v1/me/shop/products/{product_id}/status"): Access.merchant,
    ("POST", "/api/v1/me/shop/products/{product_id}/images"): Access.merchant,
    ("DELETE", "/api/v1/me/shop/products/{product_id}/images/{image_id}"): Access.merchant,
    ("POST", "/api/v1/me/shop/skus/{sku_id}/stock-adjustments"): Access.merchant,
    ("GET", "/api/v1/me/shop/products/{product_id}/stock-adjustments"): Access.merchant,
    ("GET", "/api/v1/me/shop/groups"): Access.merchant,
    ("POST", "/api/v1/me/shop/groups"): Access.merchant,
    ("PUT", "/api/v1/me/shop/groups/order"): Access.merchant,
    ("PUT", "/api/v1/me/shop/groups/{group_id}"): Access.merchant,
    ("DELETE", "/api/v1/me/shop/groups/{group_id}"): Access.merchant,
    ("GET", "/s/{slug}"): Access.public,
    ("GET", "/s/{slug}/p/{product_id}"): Access.public,
    ("GET", "/console/products"): Access.merchant,
    ("GET", "/console/products/new"): Access.merchant,
    ("POST", "/console/products"): Access.merchant,
    ("GET", "/console/products/{public_id}"): Access.merchant,
    ("POST", "/console/products/{public_id}"): Access.merchant,
    ("POST", "/console/products/{public_id}/status"): Access.merchant,
    ("POST", "/console/products/{public_id}/images"): Access.merchant,
    ("POST", "/console/products/{public_id}/images/{image_id}/{action}"): Access.merchant,
    ("POST", "/console/products/{public_id}/stock"): Access.merchant,
    ("GET", "/console/groups"): Access.merchant,
    ("POST", "/console/groups"): Access.merchant,
    ("POST", "/console/groups/order"): Access.merchant,
    ("POST", "/console/groups/{group_id}"): Access.merchant,
    ("POST", "/console/groups/{group_id}/delete"): Access.merchant,
    # --- orders: the buyer's ------------------------------------------------------------------
    ("GET", "/api/v1/me/addresses"): Access.buyer,
    ("POST", "/api/v1/me/addresses"): Access.buyer,
    ("PUT", "/api/v1/me/addresses/{address_id}"): Access.buyer,
    ("DELETE", "/api/v1/me/addresses/{address_id}"): Access.buyer,
    ("GET", "/api/v1/shops/{slug}/cart"): Access.buyer,
    ("PUT", "/api/v1/shops/{slug}/cart/items/{sku_id}"): Access.buyer,
    ("DELETE", "/api/v1/shops/{slug}/cart/items/{sku_id}"): Access.buyer,
    ("POST", "/api/v1/orders"): Access.buyer,
    ("GET", "/api/v1/orders"): Access.buyer,
    ("GET", "/api/v1/orders/{number}"): Access.buyer,
    ("POST", "/api/v1/orders/{number}/cancel"): Access.buyer,
    ("POST", "/api/v1/orders/{number}/confirm-receipt"): Access.buyer,
    ("GET", "/api/v1/carriers"): Access.public,
    # A visitor's cart lives in their browser until they log in at checkout.
    ("GET", "/s/{slug}/cart"): Access.public,
    ("POST", "/s/{slug}/cart/add"): Access.public,
    ("POST", "/s/{slug}/cart/update"): Access.public,
    ("POST", "/s/{slug}/cart/remove"): Access.public,
    ("GET", "/s/{slug}/checkout"): Access.public,
    ("POST", "/s/{slug}/checkout/code"): Access.public,
    ("POST", "/s/{slug}/checkout/login"): Access.public,
    ("POST", "/s/{slug}/checkout"): Access.buyer,
    ("GET", "/me/orders"): Access.buyer,
    ("GET", "/me/orders/{number}"): Access.buyer,
    ("POST", "/me/orders/{number}/cancel"): Access.buyer,
    ("POST", "/me/orders/{number}/confirm"): Access.buyer,
    ("GET", "/me/addresses"): Access.buyer,
    ("POST", "/me/addresses"): Access.buyer,
    ("POST", "/me/addresses/{address_id}/default"): Access.buyer,
    ("POST", "/me/addresses/{address_id}/delete"): Access.buyer,
    # --- orders: the shop's -------------------------------------------------------------------
    ("GET", "/api/v1/me/shop/orders"): Access.merchant,
    ("GET", "/api/v1/me/shop/orders.csv"): Access.merchant,
    ("GET", "/api/v1/me/shop/orders.xlsx"): Access.merchant,
    ("GET", "/api/v1/me/shop/orders/{number}"): Access.merchant,
    ("POST", "/api/v1/me/shop/orders/{number}/cancel"): Access.merchant,
    ("POST", "/api/v1/me/shop/orders/{number}/shipments"): Access.merchant,
    ("GET", "/api/v1/me/shop/shipping-rule"): Access.merchant,
    ("PUT", "/api/v1/me/shop/shipping-rule"): Access.merchant,
    ("PUT", "/api/v1/me/shop/shipping-regions"): Access.merchant,
    ("GET", "/api/v1/regions"): Access.public,
    ("GET", "/console/orders"): Access.merchant,
    ("GET", "/console/orders.csv"): Access.merchant,
    ("GET", "/console/orders.xlsx"): Access.merchant,
    ("GET", "/console/orders/updates"): Access.merchant,
    ("GET", "/console/orders/{number}"): Access.merchant,
    ("POST", "/console/orders/{number}/ship"): Access.merchant,
    ("POST", "/console/orders/{number}/cancel"): Access.merchant,
    ("GET", "/console/shipping"): Access.merchant,
    ("POST", "/console/shipping"): Access.merchant,
    ("POST", "/console/shipping/regions"): Access.merchant,
    # --- payments: the buyer's ----------------------------------------------------------------
    ("POST", "/api/v1/orders/{number}/payments"): Access.buyer,
    ("POST", "/api/v1/payments/{payment_id}/refresh"): Access.buyer,
    ("GET", "/api/v1/orders/{number}/receipt"): Access.buyer,
    ("GET", "/me/orders/{number}/receipt"): Access.buyer,
    ("POST", "/me/orders/{number}/pay"): Access.buyer,
    ("GET", "/me/orders/{number}/return"): Access.buyer,
    ("GET", "/me/orders/{number}/paid"): Access.buyer,
    # The sandbox provider's hosted pay page: the provider's, reached by its trade number.
    ("GET", "/sandbox/pay/{out_trade_no}"): Access.public,
    ("POST", "/sandbox/pay/{out_trade_no}/pay"): Access.public,
    ("POST", "/sandbox/pay/{out_trade_no}/fail"): Access.public,
    # --- payments: the shop's -----------------------------------------------------------------
    ("GET", "/api/v1/me/shop/finance"): Access.merchant,
    ("GET", "/api/v1/me/shop/finance/transactions"): Access.merchant,
    ("GET", "/api/v1/me/shop/finance/statement"): Access.merchant,
    ("GET", "/api/v1/me/shop/orders/{number}/payments"): Access.merchant,
    ("POST", "/api/v1/me/shop/orders/{number}/refunds"): Access.merchant,
    ("GET", "/api/v1/me/shop/orders/{number}/refunds"): Access.merchant,
    ("POST", "/api/v1/me/shop/withdrawals"): Access.merchant,
    ("GET", "/api/v1/me/shop/withdrawals"): Access.merchant,
    ("GET", "/api/v1/me/shop/withdrawals/{withdrawal_id}"): Access.merchant,
    ("GET", "/console/finance"): Access.merchant,
    ("POST", "/console/finance/withdraw"): Access.merchant,
    ("POST", "/console/orders/{number}/refunds"): Access.merchant,
    # --- payment requests: the shop makes them, anyone with the link sees one, a buyer pays --
    ("POST", "/api/v1/me/shop/payment-requests"): Access.merchant,
    ("GET", "/api/v1/me/shop/payment-requests"): Access.merchant,
    ("GET", "/api/v1/me/shop/payment-requests/{request_id}"): Access.merchant,
    ("POST", "/api/v1/me/shop/payment-requests/{request_id}/cancel"): Access.merchant,
    ("GET", "/api/v1/shops/{slug}/payment-requests/{request_id}"): Access.public,
    ("POST", "/api/v1/shops/{slug}/payment-requests/{request_id}/orders"): Access.buyer,
    ("GET", "/console/payment-requests"): Access.merchant,
    ("POST", "/console/payment-requests"): Access.merchant,
    ("GET", "/console/payment-requests/{request_id}"): Access.merchant,
    ("POST", "/console/payment-requests/{request_id}/cancel"): Access.merchant,
    ("GET", "/s/{slug}/pay/{request_id}"): Access.public,
    ("GET", "/s/{slug}/pay/{request_id}/qr.svg"): Access.public,
    ("GET", "/s/{slug}/pay/{request_id}/poster.png"): Access.public,
    ("POST", "/s/{slug}/pay/{request_id}"): Access.buyer,
    # --- after-sales: the buyer applies and answers, the shop answers, operators decide -------
    ("POST", "/api/v1/orders/{number}/aftersales"): Access.buyer,
    ("GET", "/api/v1/aftersales"): Access.buyer,
    ("GET", "/api/v1/aftersales/{case_id}"): Access.buyer,
    ("POST", "/api/v1/aftersales/{case_id}/photos"): Access.buyer,
    ("POST", "/api/v1/aftersales/{case_id}/accept"): Access.buyer,
    ("POST", "/api/v1/aftersales/{case_id}/decline"): Access.buyer,
    ("POST", "/api/v1/aftersales/{case_id}/return-shipment"): Access.buyer,
    ("POST", "/api/v1/aftersales/{case_id}/escalate"): Access.buyer,
    ("POST", "/api/v1/aftersales/{case_id}/withdraw"): Access.buyer,
    ("GET", "/api/v1/me/shop/aftersales"): Access.merchant,
    ("GET", "/api/v1/me/shop/aftersales/{case_id}"): Access.merchant,
    ("POST", "/api/v1/me/shop/aftersales/{case_id}/agree"): Access.merchant,
    ("POST", "/api/v1/me/shop/aftersales/{case_id}/propose"): Access.merchant,
    ("POST", "/api/v1/me/shop/aftersales/{case_id}/refuse"): Access.merchant,
    ("POST", "/api/v1/me/shop/aftersales/{case_id}/receive"): Access.merchant,
    ("GET", "/me/orders/{number}/aftersales/new"): Access.buyer,
    ("POST", "/me/orders/{number}/aftersales"): Access.buyer,
    ("GET", "/me/aftersales"): Access.buyer,
    ("GET", "/me/aftersales/{case_id}"): Access.buyer,
    ("POST", "/me/aftersales/{case_id}/{action}"): Access.buyer,
    ("GET", "/console/aftersales"): Access.merchant,
    ("GET", "/console/aftersales/{case_id}"): Access.merchant,
    ("POST", "/console/aftersales/{case_id}/{action}"): Access.merchant,
    ("GET", "/admin/disputes"): Access.operator,
    ("GET", "/admin/disputes/{case_id}"): Access.operator,
    ("POST", "/admin/disputes/{case_id}"): Access.operator,
    # --- notifications: each user's own ------------------------------------------------------
    ("GET", "/api/v1/me/notifications"): Access.buyer,
    ("POST", "/api/v1/me/notifications/read"): Access.buyer,
    ("GET", "/api/v1/me/notification-settings"): Access.buyer,
    ("PUT", "/api/v1/me/notification-settings"): Access.buyer,
    ("GET", "/me/notifications"): Access.buyer,
    ("POST", "/me/notifications/read"): Access.buyer,
    ("GET", "/me/notifications/settings"): Access.buyer,
    ("POST", "/me/notifications/settings"): Access.buyer,
}
