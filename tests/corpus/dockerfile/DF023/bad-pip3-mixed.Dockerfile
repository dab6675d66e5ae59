FROM shop/base-python:3.12-4
# expect DF023
RUN pip3 install --no-cache-dir flask==3.0.3 flask-cors aws-xray-sdk==2.13.0
COPY . /backend-flask
USER app
