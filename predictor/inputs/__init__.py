"""Reading inputs: each client's body shape to rows, and the schema (with its fast path) that
checks them."""
