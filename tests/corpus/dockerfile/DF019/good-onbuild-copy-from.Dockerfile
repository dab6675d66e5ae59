# The stage named by an ONBUILD COPY --from is the downstream build's, not this file's.
FROM nginx:1.29.3-bookworm
ONBUILD COPY --from=build /app/dist /usr/share/nginx/html
