# role: app
# Any registry prefix in front of the base repository is fine.
FROM 123456789012.dkr.ecr.eu-central-1.amazonaws.com/shop/base-python:3.12-4
WORKDIR /backend-flask
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER app
CMD ["python3", "-m", "flask", "run", "--host=0.0.0.0", "--port=4567"]
