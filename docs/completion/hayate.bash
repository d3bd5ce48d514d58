# bash completion for hayate and hayate-sink: commands, subcommands, each command's options,
# and files or directories for operands and option values. Self-contained: it needs only
# bash's own compgen and complete, not the bash-completion package's helpers.

# _hayate_files [-d]: files (or, with -d, directories) matching the current word.
_hayate_files() {
  compopt -o filenames 2>/dev/null
  if [[ "${1:-}" == -d ]]; then
    mapfile -t COMPREPLY < <(compgen -d -- "${cur}")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "${cur}")
  fi
}

# _hayate_words WORDS: the words of WORDS that start with the current word.
_hayate_words() {
  mapfile -t COMPREPLY < <(compgen -W "$1" -- "${cur}")
}

_hayate() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD - 1]}"
  local command="${COMP_WORDS[1]:-}" sub="${COMP_WORDS[2]:-}"
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    _hayate_words "run check preview dkim bounces suppress status report --help --version"
    return
  fi
  # An option's value: a file, a directory, or one of a few words.
  case "${prev}" in
    --out) _hayate_files -d; return ;;
    --job | --db | --key | --metrics-file | --to) _hayate_files; return ;;
    --algo) _hayate_words "rsa ed25519"; return ;;
    --source) _hayate_words "manual bounce complaint unsubscribe import"; return ;;
    --row | --rows | --test-to | --bits | --domain | --selector | --reason | --metrics-listen | \
      --exit-after | \
      --message-bytes-max | --connections-max | --connections-per-ip-max | \
      --session-timeout | --command-timeout | --data-timeout)
      return ;;
  esac
  case "${command}" in
    run)
      if [[ "${cur}" == -* ]]; then
        _hayate_words "--out --quiet --force --no-journal --metrics-listen --metrics-file
          --progress --no-progress --test-to --rows --mark-subject --help"
      else
        _hayate_files
      fi
      ;;
    check)
      if [[ "${cur}" == -* ]]; then
        _hayate_words "--strict --no-preflight --help"
      else
        _hayate_files
      fi
      ;;
    preview)
      if [[ "${cur}" == -* ]]; then _hayate_words "--row --help"; else _hayate_files; fi
      ;;
    status)
      if [[ "${cur}" == -* ]]; then _hayate_words "--json --help"; else _hayate_files -d; fi
      ;;
    report)
      if [[ "${cur}" == -* ]]; then _hayate_words "--to --help"; else _hayate_files -d; fi
      ;;
    dkim)
      if ((COMP_CWORD == 2)); then
        _hayate_words "keygen --help"
      else
        _hayate_words "--domain --selector --algo --bits --key --help"
      fi
      ;;
    bounces)
      if ((COMP_CWORD == 2)); then
        _hayate_words "classify ingest listen --help"
      elif [[ "${cur}" != -* ]]; then
        [[ "${sub}" == listen ]] || _hayate_files
      else
        case "${sub}" in
          classify) _hayate_words "--help" ;;
          ingest) _hayate_words "--job --db --dry-run --help" ;;
          listen)
            _hayate_words "--job --domain --allow-non-loopback --exit-after --message-bytes-max
              --connections-max --connections-per-ip-max --session-timeout --command-timeout
              --data-timeout --help"
            ;;
        esac
      fi
      ;;
    suppress)
      if ((COMP_CWORD == 2)) && [[ "${cur}" == -* ]]; then
        # Options may come before the subcommand.
        _hayate_words "--db --job --reason --source --json --help"
      elif ((COMP_CWORD == 2)); then
        _hayate_words "add remove list import export"
      elif [[ "${cur}" == -* ]]; then
        case "${sub}" in
          add) _hayate_words "--reason --source --db --job --help" ;;
          import) _hayate_words "--source --db --job --help" ;;
          list) _hayate_words "--json --db --job --help" ;;
          *) _hayate_words "--db --job --help" ;;
        esac
      elif [[ "${sub}" == import || "${sub}" == export ]]; then
        _hayate_files
      fi
      ;;
  esac
}

_hayate_sink() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD - 1]}"
  COMPREPLY=()
  case "${prev}" in
    --maildir) _hayate_files -d; return ;;
    --stats-file | --pid-file) _hayate_files; return ;;
    --listen | --threads | --hostname | --max-message-bytes | --greeting-delay-ms | --slow-ms | \
      --exit-after-messages)
      return ;;
  esac
  _hayate_words "--listen --allow-non-loopback --threads --hostname --max-message-bytes
    --no-pipelining --greeting-delay-ms --slow-ms --maildir --stats-file --stats-interval
    --exit-after-messages --pid-file --version --help"
}

complete -F _hayate hayate
complete -F _hayate_sink hayate-sink
