FROM amazonlinux:2023 AS fetch
RUN dnf install -y unzip && dnf clean all
ADD https://s3.us-east-2.amazonaws.com/aws-xray-assets.us-east-2/xray-daemon/aws-xray-daemon-linux-3.x.zip /tmp/xray.zip
RUN unzip /tmp/xray.zip -d /tmp/xray

FROM amazonlinux:2023
COPY --from=fetch /tmp/xray/xray /usr/bin/xray
COPY cfg.yaml /etc/amazon/xray/cfg.yaml
USER 1000
EXPOSE 2000/udp 2000/tcp
ENTRYPOINT ["/usr/bin/xray", "-t", "0.0.0.0:2000", "-b", "0.0.0.0:2000"]
CMD ["-c", "/etc/amazon/xray/cfg.yaml"]
