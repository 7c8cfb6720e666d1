"""Runner child processes (llama-cpp-python lives here and nowhere else) and their protocol."""
