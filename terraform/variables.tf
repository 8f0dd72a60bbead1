# Inputs, mirroring the Pulumi `eks` stack's config keys. The validations enforce the same
# invariants that stacks/config.py checks, so both tools reject the same bad values.

variable "prefix" {
  description = "Name prefix for every resource (lowercase letters, digits and dashes)."
  type        = string
  default     = "mlstack"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.prefix))
    error_message = "prefix must be 3-20 characters of lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "tags" {
  description = "Extra tags added to every AWS resource."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC; must be a private (RFC 1918) range."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition = try(anytrue([
      for range in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] :
      tonumber(split("/", var.vpc_cidr)[1]) >= tonumber(split("/", range)[1]) &&
      cidrhost("${cidrhost(var.vpc_cidr, 0)}/${split("/", range)[1]}", 0) == cidrhost(range, 0)
    ]), false)
    error_message = "vpc_cidr must be a CIDR inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16."
  }

  validation {
    condition     = try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], false)
    error_message = "vpc_cidr must be a network address with no host bits set, e.g. 10.0.0.0/16."
  }
}

variable "availability_zones" {
  description = "Availability zones, one per public subnet; empty takes the region's first zones at plan time."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(distinct(var.availability_zones)) >= 2
    error_message = "availability_zones must list at least two distinct zones (EKS needs two), or be empty."
  }

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) == length(var.public_subnet_cidrs)
    error_message = "availability_zones must give one zone per public_subnet_cidrs entry."
  }

  validation {
    condition     = alltrue([for az in var.availability_zones : startswith(az, var.region)])
    error_message = "availability_zones must all be in the chosen region."
  }
}

variable "public_subnet_cidrs" {
  description = "The nodes' public subnet CIDRs (with the VPC CNI, their pods' too), one per availability zone, each inside vpc_cidr and not overlapping."
  type        = list(string)
  default     = ["10.0.0.0/20", "10.0.16.0/20"]

  validation {
    condition     = length(var.public_subnet_cidrs) >= 2
    error_message = "public_subnet_cidrs must list at least two subnets: EKS needs two availability zones."
  }

  validation {
    # A subnet is inside the VPC when its network, truncated to the VPC's prefix, is the VPC's.
    condition = try(alltrue([
      for cidr in var.public_subnet_cidrs :
      tonumber(split("/", cidr)[1]) >= tonumber(split("/", var.vpc_cidr)[1]) &&
      cidrhost("${cidrhost(cidr, 0)}/${split("/", var.vpc_cidr)[1]}", 0) == cidrhost(var.vpc_cidr, 0)
    ]), false)
    error_message = "public_subnet_cidrs must all be valid CIDRs inside vpc_cidr."
  }

  validation {
    condition     = try(alltrue([for cidr in var.public_subnet_cidrs : cidrhost(cidr, 0) == split("/", cidr)[0]]), false)
    error_message = "public_subnet_cidrs must be network addresses with no host bits set, e.g. 10.0.0.0/20."
  }

  validation {
    # Two subnets overlap when the larger one, truncated, contains the other's network.
    condition = try(alltrue(flatten([
      for i, a in var.public_subnet_cidrs : [
        for j, b in var.public_subnet_cidrs : i >= j || (
          cidrhost("${cidrhost(b, 0)}/${min(tonumber(split("/", a)[1]), tonumber(split("/", b)[1]))}", 0) !=
          cidrhost("${cidrhost(a, 0)}/${min(tonumber(split("/", a)[1]), tonumber(split("/", b)[1]))}", 0)
        )
      ]
    ])), false)
    error_message = "public_subnet_cidrs must not overlap."
  }
}

variable "load_balancer_subnet_cidrs" {
  description = "The load balancer's own subnets, one per public subnet (same zones, same order), /27 or larger, inside vpc_cidr and apart from public_subnet_cidrs: no node or pod gets an address there."
  type        = list(string)
  default     = ["10.0.32.0/26", "10.0.32.64/26"]

  validation {
    condition     = length(var.load_balancer_subnet_cidrs) == length(var.public_subnet_cidrs)
    error_message = "load_balancer_subnet_cidrs must give one subnet per public_subnet_cidrs entry (one per availability zone)."
  }

  validation {
    condition = try(alltrue([
      for cidr in var.load_balancer_subnet_cidrs :
      tonumber(split("/", cidr)[1]) >= tonumber(split("/", var.vpc_cidr)[1]) &&
      cidrhost("${cidrhost(cidr, 0)}/${split("/", var.vpc_cidr)[1]}", 0) == cidrhost(var.vpc_cidr, 0)
    ]), false)
    error_message = "load_balancer_subnet_cidrs must all be valid CIDRs inside vpc_cidr."
  }

  validation {
    condition     = try(alltrue([for cidr in var.load_balancer_subnet_cidrs : cidrhost(cidr, 0) == split("/", cidr)[0]]), false)
    error_message = "load_balancer_subnet_cidrs must be network addresses with no host bits set, e.g. 10.0.32.0/26."
  }

  validation {
    # An ALB needs at least a /27 with 8 free addresses in each of its subnets.
    condition     = try(alltrue([for cidr in var.load_balancer_subnet_cidrs : tonumber(split("/", cidr)[1]) <= 27]), false)
    error_message = "load_balancer_subnet_cidrs must each be a /27 or larger: an ALB needs 8 free addresses per subnet."
  }

  validation {
    # Apart from each other and from the node subnets, truncated as public_subnet_cidrs' check does.
    condition = try(alltrue(flatten([
      for i, a in var.load_balancer_subnet_cidrs : [
        for j, b in concat(var.load_balancer_subnet_cidrs, var.public_subnet_cidrs) : i >= j || (
          cidrhost("${cidrhost(b, 0)}/${min(tonumber(split("/", a)[1]), tonumber(split("/", b)[1]))}", 0) !=
          cidrhost("${cidrhost(a, 0)}/${min(tonumber(split("/", a)[1]), tonumber(split("/", b)[1]))}", 0)
        )
      ]
    ])), false)
    error_message = "load_balancer_subnet_cidrs must not overlap each other or public_subnet_cidrs: they hold no node or pod."
  }
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS API endpoint; narrow this to your own addresses."
  type        = list(string)

  validation {
    condition     = length(var.endpoint_public_access_cidrs) > 0 && try(alltrue([for c in var.endpoint_public_access_cidrs : cidrhost(c, 0) == split("/", c)[0]]), false)
    error_message = "endpoint_public_access_cidrs must be a non-empty list of IPv4 network CIDRs, e.g. 203.0.113.0/24."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (major.minor)."
  type        = string
  default     = "1.35"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.35."
  }
}

variable "node_instance_type" {
  description = "EC2 instance type of the managed node group."
  type        = string
  default     = "t3.medium"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.node_instance_type))
    error_message = "node_instance_type must be an EC2 instance type such as t3.large."
  }
}

variable "node_min_size" {
  description = "Minimum number of nodes."
  type        = number
  default     = 1

  validation {
    condition     = var.node_min_size >= 1 && floor(var.node_min_size) == var.node_min_size
    error_message = "node_min_size must be a whole number of at least 1."
  }
}

variable "node_desired_size" {
  description = "Desired number of nodes; between node_min_size and node_max_size."
  type        = number
  default     = 2

  validation {
    condition     = var.node_min_size <= var.node_desired_size && var.node_desired_size <= var.node_max_size
    error_message = "node sizes must satisfy node_min_size <= node_desired_size <= node_max_size."
  }
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
  default     = 3

  validation {
    condition     = floor(var.node_max_size) == var.node_max_size && var.node_max_size <= 100
    error_message = "node_max_size must be a whole number of at most 100."
  }
}

variable "node_disk_size_gib" {
  description = "Root volume size of each node, in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.node_disk_size_gib >= 20
    error_message = "node_disk_size_gib must be at least 20 GiB."
  }
}

variable "namespace" {
  description = "Kubernetes namespace of the workloads; part of each IRSA role's trusted subject."
  type        = string
  default     = "mlstack"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a Kubernetes DNS label."
  }
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the bucket with its objects (artifacts are lost)."
  type        = bool
  default     = true
}

variable "monitoring_chart_version" {
  description = "Version of the kube-prometheus-stack chart."
  type        = string
  default     = "79.10.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.monitoring_chart_version))
    error_message = "monitoring_chart_version must be an exact chart version such as 79.10.0."
  }
}

variable "grafana_admin_password" {
  description = "Grafana's admin password; empty to generate one (output grafana_admin_password)."
  type        = string
  default     = ""
  sensitive   = true
}

# Public access (Pulumi's public_access): the AWS Load Balancer Controller and its IAM role, for
# an internet-facing ALB in front of the API. The Ingress itself is a workload, declared by the
# Pulumi program; Terraform users apply it with the workloads.
variable "public_access" {
  description = "Install the AWS Load Balancer Controller (IRSA role with its published policy) for a public API."
  type        = bool
  default     = false
}

variable "public_host" {
  description = "DNS name of the public API (a CNAME to the ALB), covered by public_certificate_arn."
  type        = string
  default     = "mlstack.local"

  validation {
    condition     = !var.public_access || !endswith(var.public_host, ".local")
    error_message = "public_host must be the DNS name the certificate covers when public_access is on, e.g. api.example.com."
  }
}

variable "public_certificate_arn" {
  description = "ACM certificate ARN for public_host; required when public_access is on."
  type        = string
  default     = ""

  validation {
    condition     = var.public_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$", var.public_certificate_arn))
    error_message = "public_certificate_arn must be an ACM certificate ARN."
  }
  validation {
    condition     = !var.public_access || var.public_certificate_arn != ""
    error_message = "public_certificate_arn is required when public_access is on (the ALB serves HTTPS only)."
  }
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API's load balancer; required when public_access is on (no open default)."
  type        = list(string)
  default     = []

  validation {
    condition     = !var.public_access || (length(var.public_access_cidrs) > 0 && try(alltrue([for c in var.public_access_cidrs : cidrhost(c, 0) == split("/", c)[0]]), false))
    error_message = "public_access_cidrs must be a non-empty list of IPv4 network CIDRs when public_access is on, e.g. 203.0.113.0/24."
  }
}

# MLflow's store (Pulumi's mlflow_database*): with "rds" an RDS PostgreSQL (rds.tf); with "sqlite"
# or "external" none here (SQLite on MLflow's volume, or a PostgreSQL you run yourself).
variable "mlflow_database" {
  description = "MLflow's store: rds (a PostgreSQL created here), sqlite (MLflow's volume) or external (your own PostgreSQL)."
  type        = string
  default     = "rds"

  validation {
    condition     = contains(["rds", "sqlite", "external"], var.mlflow_database)
    error_message = "mlflow_database must be rds, sqlite or external."
  }
}

variable "mlflow_database_instance_class" {
  description = "RDS instance class of MLflow's PostgreSQL."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.mlflow_database_instance_class))
    error_message = "mlflow_database_instance_class must be an RDS instance class such as db.t4g.small."
  }
}

variable "mlflow_database_storage_gib" {
  description = "Encrypted gp3 storage of MLflow's PostgreSQL, GiB (20-100; it grows by itself to 100)."
  type        = number
  default     = 20

  validation {
    condition     = var.mlflow_database_storage_gib >= 20 && var.mlflow_database_storage_gib <= 100
    error_message = "mlflow_database_storage_gib must be 20 (gp3's least) to 100."
  }
}

variable "mlflow_database_multi_az" {
  description = "A standby in a second zone that RDS fails over to (doubles the database's cost)."
  type        = bool
  default     = false
}

variable "mlflow_database_backup_retention_days" {
  description = "Days of automated backups (point-in-time restore) of MLflow's PostgreSQL, 1-35."
  type        = number
  default     = 7

  validation {
    condition     = var.mlflow_database_backup_retention_days >= 1 && var.mlflow_database_backup_retention_days <= 35
    error_message = "mlflow_database_backup_retention_days must be 1 to 35: backups stay on, and RDS keeps at most 35 days."
  }
}

variable "mlflow_database_deletion_protection" {
  description = "Refuse to delete MLflow's PostgreSQL; set false and apply before terraform destroy (a final snapshot is kept)."
  type        = bool
  default     = true
}

variable "mlflow_database_snapshot" {
  description = "RDS snapshot (identifier or ARN) MLflow's PostgreSQL is restored from; empty for a new database. Changing it replaces the database."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^$|^(arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:snapshot:|rds:)?[A-Za-z][A-Za-z0-9-]{0,254}$", var.mlflow_database_snapshot))
    error_message = "mlflow_database_snapshot must be an RDS snapshot identifier or ARN, or empty."
  }
}
