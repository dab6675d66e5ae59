import os

from flask import Flask

app = Flask(__name__)


@app.route("/api/health-check")
def health_check():
    return {"success": True}, 200


@app.route("/api/activities/home")
def home():
    return [{"handle": "andrewbrown", "message": "Cloud is fun!"}], 200
