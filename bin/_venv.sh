# Shared by bin/serve and bin/test: make .venv and install the project when pyproject.toml changed.
install_app() {
  local extras="$1"
  local python="${PYTHON:-python3}"
  [[ -x .venv/bin/python ]] || "$python" -m venv .venv
  local stamp=".venv/.attune-installed${extras}"
  local want
  want="$(sha256sum pyproject.toml | cut -c1-16)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".${extras}"
    echo "$want" > "$stamp"
  fi
}
