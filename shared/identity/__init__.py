"""Who is asking: the caller of an operator route, as Entra authenticated them."""
