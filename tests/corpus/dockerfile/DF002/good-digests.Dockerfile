FROM python@sha256:505743d8c54dd03a60f147de042382c02bf545dd939436098c68026d1c0802c8 AS build
COPY . /src
RUN pip wheel --no-deps --wheel-dir /dist /src

FROM nginx:1.25.4@sha256:1047b3d9918c63cd60744393ea55fb399018668c841a39ae653dd7e6d58317c0
COPY --from=build /dist /usr/share/nginx/html/dist
