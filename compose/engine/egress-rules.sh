#!/bin/sh
# NextPyter: notebook containers reach the internet only (see nextpyter/sidecar/runtime/egress.py)
set -e
iptables -w -N DOCKER-USER 2>/dev/null || true
iptables -w -C DOCKER-USER -i nextpyter0 -d 240.0.0.0/4 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 240.0.0.0/4 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -d 224.0.0.0/4 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 224.0.0.0/4 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -d 192.168.0.0/16 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 192.168.0.0/16 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -d 172.16.0.0/12 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 172.16.0.0/12 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -d 169.254.0.0/16 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 169.254.0.0/16 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -d 127.0.0.0/8 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 127.0.0.0/8 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -d 100.64.0.0/10 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 100.64.0.0/10 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -d 10.0.0.0/8 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 10.0.0.0/8 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -d 0.0.0.0/8 -j DROP 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -d 0.0.0.0/8 -j DROP
iptables -w -C DOCKER-USER -i nextpyter0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN 2>/dev/null || iptables -w -I DOCKER-USER 1 -i nextpyter0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
iptables -w -C INPUT -i nextpyter0 -j DROP 2>/dev/null || iptables -w -I INPUT 1 -i nextpyter0 -j DROP
iptables -w -C FORWARD -j DOCKER-USER 2>/dev/null || iptables -w -I FORWARD 1 -j DOCKER-USER
