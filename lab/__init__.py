"""The project's libvirt lab: three libvirtd hosts in network namespaces on one machine."""
