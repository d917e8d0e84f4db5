"""The Quantum ESPRESSO layer: input sets, Makers, the pw.x runner, parsing and error recovery."""
