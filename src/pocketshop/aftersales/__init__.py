"""After-sales: a buyer's refund, return or exchange of an order line, as WeChat Shop runs it."""
