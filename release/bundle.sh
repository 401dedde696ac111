#!/usr/bin/env bash
# Builds the bundle the Maven Central Portal takes: every published artifact (bom, api, jna,
# micrometer, crowdsec: jar, pom, sources, javadoc) signed with gpg, in a Maven repository layout with
# .md5 and .sha1 checksums, zipped. Nothing is uploaded: upload target/central-bundle.zip at
# https://central.sonatype.com (Publish Component) or with the Portal's API.
#
#   release/bundle.sh            # sign with gpg's default key; MAVEN_GPG_PASSPHRASE if it has one
#   release/bundle.sh --check    # then check the bundle: every file signed (gpg --verify) and summed
#
# A release first sets a release version: mvn versions:set -DnewVersion=0.1.0 (and in bom/pom.xml).
# The SCM and site URLs in the POMs are placeholders until the project has a public home.
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
[ "${1:-}" = "--check" ] && check=true
staging="$PWD/target/staging"
rm -rf "$staging" target/central-bundle.zip
mkdir -p target
mvn -B -q -P release -DskipTests -DaltDeploymentRepository="staging::file://$staging" deploy
# The Portal wants the repository layout without Maven's own metadata files.
find "$staging" -name 'maven-metadata*' -delete
(cd "$staging" && zip -q -r ../central-bundle.zip .)
echo "target/central-bundle.zip: $(cd "$staging" && find . -type f | wc -l) files"
if $check; then
  fail=0
  version=$(sed -n 's:^  <version>\(.*\)</version>:\1:p' pom.xml | head -1)
  for artifact in portcullis-bom portcullis-api portcullis-jna portcullis-micrometer portcullis-netty portcullis-jetty portcullis-crowdsec; do
    dir="$staging/dev/portcullis/$artifact/$version"
    [ -d "$dir" ] || { echo "missing $artifact" >&2; fail=1; continue; }
    kinds=$(find "$dir" -type f ! -name '*.asc' ! -name '*.md5' ! -name '*.sha1' -printf '%f\n' | sort)
    want='\.pom$'
    [ "$artifact" != portcullis-bom ] && want='\.pom$ [0-9]\.jar$ -sources\.jar$ -javadoc\.jar$'
    for w in $want; do
      echo "$kinds" | grep -Eq -- "$w" || { echo "missing $artifact $w" >&2; fail=1; }
    done
    for name in $kinds; do
      f="$dir/$name"
      for sum in asc md5 sha1; do
        [ -f "$f.$sum" ] || { echo "missing $name.$sum" >&2; fail=1; }
      done
      gpg --batch --verify "$f.asc" "$f" 2>/dev/null || { echo "bad signature: $name" >&2; fail=1; }
      [ "$(md5sum < "$f" | cut -d' ' -f1)" = "$(cat "$f.md5")" ] || { echo "bad md5: $name" >&2; fail=1; }
      [ "$(sha1sum < "$f" | cut -d' ' -f1)" = "$(cat "$f.sha1")" ] || { echo "bad sha1: $name" >&2; fail=1; }
    done
  done
  for skipped in portcullis-examples portcullis-examples-spring-boot portcullis-bench portcullis-site portcullis-parent; do
    if [ "$skipped" = portcullis-parent ]; then
      [ -d "$staging/dev/portcullis/$skipped" ] || { echo "the parent POM must be published (the jars' POMs name it)" >&2; fail=1; }
    else
      [ ! -e "$staging/dev/portcullis/$skipped" ] || { echo "$skipped must not be published" >&2; fail=1; }
    fi
  done
  [ "$fail" = 0 ] && echo "bundle ok: every artifact signed and summed"
  exit "$fail"
fi
