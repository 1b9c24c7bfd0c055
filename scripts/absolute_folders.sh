# Sourced by scripts/lab.sh and scripts/lecture.sh before they change folder: their kernels run in another folder,
# where a relative KDVIZ_HOME or KDVIZ_DATA would name another place than the one it was started from.
for name in KDVIZ_HOME KDVIZ_DATA; do
  value="${!name:-}"
  if [ -n "$value" ] && [ "${value#/}" = "$value" ] && [ "${value#\~}" = "$value" ]; then
    export "$name=$PWD/$value"
  fi
done
