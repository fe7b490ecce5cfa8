"""The HTTP layer (接口): a thin FastAPI app over the gridmap library; ``api.main.create_app``."""
