# VPC with public subnets only: nodes get public IPs and reach the internet through the
# internet gateway, so there is no NAT gateway to pay for (see the README's cost notes). Each zone
# has the nodes' subnet and a small one for the load balancer alone.

# Used only when availability_zones is empty: the region's first zones, taken by name.
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first length(public_subnet_cidrs) zones are used (locals.tf), so a zone added later does not change the subnets; pin availability_zones to fix them by name.
  state = "available"

  # Regular zones only: Local and Wavelength Zones cannot host EKS control-plane subnets.
  filter {
    name   = "zone-type"
    values = ["availability-zone"]
  }
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Flow logs cost per GB ingested and the VPC holds only this cluster; enable them with an aws_flow_log when an audit requires it.
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = "${var.prefix}-vpc" }
}

# Take over the default security group and leave it without rules, so nothing uses it by accident.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.prefix}-default-deny" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.prefix}-igw" }
}

resource "aws_subnet" "public" {
  #checkov:skip=CKV_AWS_130:Public subnets by design (no NAT gateway, for cost); nodes are reached only through the EKS API and port-forward, and the cluster security group admits no inbound internet traffic.
  for_each = local.public_subnets

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value
  map_public_ip_on_launch = true

  # No kubernetes.io/role/elb tag: the load balancer controller never places a load balancer
  # here, among the nodes and (VPC CNI) their pods.
  tags = { Name = "${var.prefix}-public-${each.key}" }
}

# The load balancer's own subnets, one per zone beside the nodes': no node or pod gets an address
# here, so these addresses are the ALB's alone, and the API trusts X-Forwarded-For from them only.
resource "aws_subnet" "load_balancer" {
  for_each = local.load_balancer_subnets

  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value
  # An internet-facing ALB brings its own public addresses.
  map_public_ip_on_launch = false

  tags = {
    Name                     = "${var.prefix}-lb-${each.key}"
    "kubernetes.io/role/elb" = "1"
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.prefix}-public" }
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table_association" "load_balancer" {
  for_each = aws_subnet.load_balancer

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}
