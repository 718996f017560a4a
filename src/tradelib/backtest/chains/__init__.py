"""End-of-day option chains: the file schema, the importer and a market source over them."""
