# Terraform and provider versions. `~>` allows patch and minor upgrades within the tested major.
terraform {
  # 1.9 lets a variable's validation refer to other variables (subnets inside the VPC, sizes).
  required_version = "~> 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
