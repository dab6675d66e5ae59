FROM debian:bookworm-slim
# slipway-ignore DF013: texlive needs its recommended fonts to render invoices
RUN apt-get update \
    && apt-get install -y texlive-latex-base=2022.20230122-3 \
    && rm -rf /var/lib/apt/lists/*
USER nobody
