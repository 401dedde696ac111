#!/usr/bin/env bash
# Builds the whole site with one command, then checks it as a reader would see it:
#   site/build.sh [--no-coverage]
# 1. mvn verify with JaCoCo (coverage of api, jna and examples), plus the Javadoc jars;
# 2. the Maven site (site/src/site) into site/target/site;
# 3. one Javadoc over api and jna (apidocs/), the coverage reports (coverage/: all modules
#    merged, and each alone), and the surefire reports summarised as test-report.html;
# 4. every internal link checked (site/check-links.py): a broken one fails the build;
# 5. headless Chromium screenshots of the home and getting-started pages into
#    site/target/screenshots/ (skipped with a message when chromium is not installed).
set -euo pipefail
cd "$(dirname "$0")/.."
coverage=1
[ "${1:-}" = "--no-coverage" ] && coverage=0

if [ "$coverage" = 1 ]; then
  mvn -B -q -Pcoverage verify
else
  mvn -B -q -DskipTests package
fi
out=site/target/site
rm -rf "$out" # the site plugin skips pages whose source did not change, even when the menu did
mvn -B -q -pl site site

mkdir -p "$out/apidocs" "$out/coverage"
# One Javadoc over the api and the JNA transport together, so links between them work.
cp_file=$(mktemp)
# compile in the same run, so the reactor supplies portcullis-api even when ~/.m2 has none
mvn -B -q -pl impl-jna -am compile dependency:build-classpath -Dmdep.outputFile="$cp_file" \
  -Dmdep.includeScope=compile >/dev/null
rm -rf "$out/apidocs"
# Both are named modules (module-info.java): document them in module mode, their dependencies on the
# module path (the api's own target/classes left out: it comes from source here). Only exported
# packages are documented, so dev.portcullis.internal is not.
module_path=$(tr ':' '\n' < "$cp_file" | grep -v "^$PWD/" | paste -sd: -)
javadoc -quiet -Xdoclint:none -d "$out/apidocs" -doctitle "Portcullis 0.1.0-SNAPSHOT API" -windowtitle "Portcullis API" \
  --module-source-path dev.portcullis=api/src/main/java --module-source-path dev.portcullis.jna=impl-jna/src/main/java:impl-jna/src/main/module \
  --module dev.portcullis,dev.portcullis.jna --module-path "$module_path" >/dev/null
rm -f "$cp_file"
{
  echo "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Coverage</title></head>"
  echo "<body style='font-family:sans-serif;margin:2em'><h1>Test coverage (JaCoCo)</h1><ul>"
  if [ "$coverage" = 1 ]; then
    # All modules' test runs merged, over all classes: the api's code counts what the transport's
    # and the examples' tests exercise too.
    cli=$(mktemp -d)
    mvn -B -q -N dependency:copy -Dartifact=org.jacoco:org.jacoco.cli:0.8.13:jar:nodeps -DoutputDirectory="$cli" \
      >/dev/null
    java -jar "$cli"/org.jacoco.cli-0.8.13-nodeps.jar merge api/target/jacoco.exec impl-jna/target/jacoco.exec \
      examples/target/jacoco.exec --destfile "$cli/all.exec" --quiet
    rm -rf "$out/coverage/all"
    java -jar "$cli"/org.jacoco.cli-0.8.13-nodeps.jar report "$cli/all.exec" --classfiles api/target/classes \
      --classfiles impl-jna/target/classes --classfiles examples/target/classes --sourcefiles api/src/main/java \
      --sourcefiles impl-jna/src/main/java --sourcefiles examples/src/main/java --name "Portcullis, all tests" \
      --html "$out/coverage/all" --quiet
    rm -rf "$cli"
    echo "<li><a href='all/index.html'>all modules, all tests</a></li>"
    for m in api impl-jna examples; do
      if [ -d "$m/target/site/jacoco" ]; then
        rm -rf "$out/coverage/$m" && cp -r "$m/target/site/jacoco" "$out/coverage/$m"
        echo "<li><a href='$m/index.html'>$m, its own tests</a></li>"
      fi
    done
  else
    echo "<li>This site was built with --no-coverage; run site/build.sh for the reports.</li>"
  fi
  echo "</ul><p><a href='../index.html'>Back to the site</a></p></body></html>"
} > "$out/coverage/index.html"
python3 site/test-report.py > "$out/test-report.html"

python3 site/check-links.py "$out"

shots=site/target/screenshots
mkdir -p "$shots"
if command -v chromium >/dev/null 2>&1; then
  profile=$(mktemp -d)
  for page in index getting-started; do
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
      --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
      --window-size=1280,1000 --screenshot="$shots/$page.png" "file://$PWD/$out/$page.html" >/dev/null 2>&1
    [ -s "$shots/$page.png" ] || { echo "no screenshot of $page.html" >&2; exit 1; }
  done
  rm -rf "$profile"
  echo "screenshots: $shots/index.png $shots/getting-started.png"
else
  echo "chromium not installed: no screenshots (apt-get install chromium)" >&2
fi
echo "site: $out/index.html"
