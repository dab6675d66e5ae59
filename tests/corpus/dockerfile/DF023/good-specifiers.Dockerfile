FROM python:3.12.3-slim-bookworm
RUN pip install --no-cache-dir \
        gunicorn==21.2.0 \
        "django~=4.2.11" \
        'psycopg[binary]>=3.1.18' \
        "celery<=5.3.6" \
        "redis<6" \
        "elasticsearch>7.0" \
        "urllib3!=2.0.0,>=1.26" \
        whitenoise===6.6.0 \
        "shop-auth @ https://files.shop.internal/shop_auth-1.4.0-py3-none-any.whl" \
    && pip install --no-cache-dir --upgrade pip==24.0
USER nobody
