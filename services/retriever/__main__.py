from services.retriever.server import serve

serve()
