FROM node:20.12-bookworm-slim
WORKDIR /app
COPY . .
# "cdk" and "abcd" are not cd; -C / --prefix change directory without cd
RUN npm ci \
    && npx cdk synth --output /app/cdk.out \
    && make -C /app/native \
    && npm --prefix /app/packages/ui run build \
    && echo "abcd" > /app/BUILD_ID
USER node
