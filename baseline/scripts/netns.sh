#!/usr/bin/env bash
# Outside vantage points for the plancheck baseline (TEST-NET-3 only, no
# default route in either namespace):
#
#   pc-ext  external client   host pcx0 203.0.113.1/30  <->  ns eth0 203.0.113.2/30
#   pc-vpn  VPN client        host pcv0 203.0.113.5/30  <->  ns eth0 203.0.113.6/30
#
# 203.0.113.5 is the VPN address compose binds the admin portal (8443) and the
# SSH bastion (22) to, so `up` must run before `docker-compose up`.
#
# Firewall (idempotent):
#   DOCKER-USER  closes Docker's loophole: from the vantage veths only traffic
#                that Docker DNAT-ed for a published port may reach a container
#                (a route to a container IP, or a port "published on 127.0.0.1",
#                is otherwise reachable on Docker 20.10); the external client
#                may only use ports published on the public address
#                203.0.113.1, i.e. it cannot reach VPN-only ports by routing
#                to 203.0.113.5.
#   INPUT        the host itself offers nothing to the vantage namespaces
#                (only ICMP and replies): anything reachable from pc-ext or
#                pc-vpn is a published container port.
# IPv6 is disabled on the vantage links (Docker's userland proxy listens on
# [::] for published ports and would bypass the IPv4 rules).
#
# Usage: netns.sh up|down|status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export PLANCHECK_STEP=netns
need_root

# name | host if | host addr | ns addr
VANTAGES=(
    "pc-ext|pcx0|203.0.113.1|203.0.113.2"
    "pc-vpn|pcv0|203.0.113.5|203.0.113.6"
)
CHAIN=PLANCHECK-VANTAGE

ipt_ensure() {  # ipt_ensure TABLE CHAIN RULE... (insert at the top if missing)
    local table=$1 chain=$2; shift 2
    iptables -t "$table" -C "$chain" "$@" 2>/dev/null || iptables -t "$table" -I "$chain" 1 "$@"
}
ipt_delete() {
    local table=$1 chain=$2; shift 2
    while iptables -t "$table" -C "$chain" "$@" 2>/dev/null; do iptables -t "$table" -D "$chain" "$@"; done
}

firewall_rules() {  # prints "iface|rule..." lines for DOCKER-USER
    echo "pcx0|-i pcx0 -m conntrack ! --ctstate DNAT -j DROP"
    echo "pcx0|-i pcx0 -m conntrack ! --ctorigdst 203.0.113.1 -j DROP"
    echo "pcv0|-i pcv0 -m conntrack ! --ctstate DNAT -j DROP"
}

up() {
    command -v ip >/dev/null || apt-get install -y -qq iproute2 >/dev/null
    command -v iptables >/dev/null || apt-get install -y -qq iptables >/dev/null
    local row ns hif haddr nsaddr
    for row in "${VANTAGES[@]}"; do
        IFS='|' read -r ns hif haddr nsaddr <<<"$row"
        ip netns list | grep -qw "^$ns" || ip netns add "$ns"
        if ! ip link show "$hif" >/dev/null 2>&1; then
            ip link add "$hif" type veth peer name eth0 netns "$ns"
        fi
        sysctl -qw "net.ipv6.conf.$hif.disable_ipv6=1" || true
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
        ip addr replace "$haddr/30" dev "$hif"
        ip link set "$hif" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr replace "$nsaddr/30" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route del default >/dev/null 2>&1 || true
    done

    # host INPUT: nothing on the host itself is offered to the vantage points
    iptables -N "$CHAIN" 2>/dev/null || true
    iptables -F "$CHAIN"
    iptables -A "$CHAIN" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
    iptables -A "$CHAIN" -p icmp -j RETURN
    iptables -A "$CHAIN" -j DROP
    ipt_ensure filter INPUT -i pcx0 -j "$CHAIN"
    ipt_ensure filter INPUT -i pcv0 -j "$CHAIN"

    # forwarded traffic to containers: only what Docker DNAT-ed
    iptables -N DOCKER-USER 2>/dev/null || true
    local line rule
    while IFS= read -r line; do
        rule=${line#*|}
        # shellcheck disable=SC2086
        ipt_ensure filter DOCKER-USER $rule
    done < <(firewall_rules | tac)
    msg "vantage namespaces up: pc-ext (203.0.113.2 -> 203.0.113.1), pc-vpn (203.0.113.6 -> 203.0.113.5)"
}

down() {
    local row ns hif haddr nsaddr line rule
    while IFS= read -r line; do
        rule=${line#*|}
        # shellcheck disable=SC2086
        iptables -L DOCKER-USER -n >/dev/null 2>&1 && ipt_delete filter DOCKER-USER $rule
    done < <(firewall_rules)
    ipt_delete filter INPUT -i pcx0 -j "$CHAIN"
    ipt_delete filter INPUT -i pcv0 -j "$CHAIN"
    iptables -F "$CHAIN" 2>/dev/null || true
    iptables -X "$CHAIN" 2>/dev/null || true
    for row in "${VANTAGES[@]}"; do
        IFS='|' read -r ns hif haddr nsaddr <<<"$row"
        ip link del "$hif" 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    msg "vantage namespaces removed"
}

status() {
    local row ns hif haddr nsaddr
    for row in "${VANTAGES[@]}"; do
        IFS='|' read -r ns hif haddr nsaddr <<<"$row"
        if ip netns list | grep -qw "^$ns" && ip -n "$ns" -4 addr show eth0 2>/dev/null | grep -q "$nsaddr/30" \
            && ip -4 addr show "$hif" 2>/dev/null | grep -q "$haddr/30"; then
            echo "$ns: up ($hif $haddr <-> $nsaddr)"
        else
            echo "$ns: down"
        fi
    done
    iptables -S DOCKER-USER 2>/dev/null | grep -E 'pc[xv]0' || true
    iptables -S INPUT | grep "$CHAIN" || true
}

case ${1:-} in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
