from services.ingest.server import serve

serve()
