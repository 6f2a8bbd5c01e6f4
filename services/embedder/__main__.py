from services.embedder.server import serve

serve()
