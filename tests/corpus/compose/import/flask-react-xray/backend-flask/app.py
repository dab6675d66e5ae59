import os

from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, resources={r"/api/*": {"origins": [os.getenv("FRONTEND_URL"), os.getenv("BACKEND_URL")]}})


@app.route("/api/health-check")
def health_check():
    return jsonify({"success": True}), 200


@app.route("/api/activities/home")
def home_activities():
    return jsonify([]), 200


if __name__ == "__main__":
    app.run(debug=True)
