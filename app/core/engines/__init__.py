"""Chat engines behind one protocol: local llama.cpp now, remote endpoints later."""
