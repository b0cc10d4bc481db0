"""The model as training writes it and the scoring API reads it: columns derived from the
contract, the versioned artifact with its metadata, and the compiled single-row scorer."""
