"""The Function App: composes the blueprints. Nothing here connects to anything."""

import azure.functions as func

from functions.itsm import bp as itsm_bp
from functions.jobs import bp as jobs_bp
from functions.monitor import bp as monitor_bp
from functions.posture import bp as posture_bp
from functions.public import bp as public_bp
from functions.reset_queue import bp as reset_queue_bp
from functions.timers import bp as timers_bp
from functions.verify import bp as verify_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (itsm_bp, jobs_bp, reset_queue_bp, timers_bp, monitor_bp, posture_bp, verify_bp, public_bp):
    app.register_functions(blueprint)
