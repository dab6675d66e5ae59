# Not the official image: nothing is known about its entrypoint.
# expect DF010
FROM bitnamilegacy/postgresql:17.6.0
CMD ["postgres"]
