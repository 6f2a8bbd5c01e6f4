"""Questions about the collection itself (counts, facets, time histograms, top values), answered from a checked
plan run over the catalogue, never from generated query text."""
