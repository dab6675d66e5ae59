FROM ruby:3.4.7-slim-trixie
WORKDIR /usr/src/app
ONBUILD COPY Gemfile Gemfile.lock ./
ONBUILD RUN bundle install
ONBUILD CMD ["bundle", "exec", "puma"]
CMD ["irb"]
USER nobody
