from services.ingest.server import serve

# Guarded: extraction workers start from a forkserver, which imports this module again as __mp_main__.
if __name__ == "__main__":
    serve()
