"""The Function App: composes the blueprints. Nothing here connects to anything."""

import azure.functions as func

from functions.jobs import bp as jobs_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(jobs_bp)
